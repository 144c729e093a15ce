#ifndef HERALD_CYAML_SHIM_H
#define HERALD_CYAML_SHIM_H
#include <yaml.h>
#endif
