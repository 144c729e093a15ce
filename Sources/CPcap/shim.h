#ifndef HERALD_CPCAP_SHIM_H
#define HERALD_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
