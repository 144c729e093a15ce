// GNU extensions of glibc that Swift's Glibc module does not import (they are declared
// only under _GNU_SOURCE): accepting a connection close-on-exec in one step, closing
// every inherited descriptor in a spawned child, swapping two directories in one
// rename, and naming a thread (what top -H and
// /proc/PID/task/*/comm show). Declared with opaque types so this
// module includes no system header (which would then belong to it rather than to Glibc).
// And the layout of a socket's classic BPF filter (linux/filter.h), for SO_ATTACH_FILTER.
struct sockaddr;

int accept4(int fd, struct sockaddr *address, unsigned int *length, int flags);
/// `actions` is a posix_spawn_file_actions_t *.
int posix_spawn_file_actions_addclosefrom_np(void *actions, int from);
/// `thread` is a pthread_t.
int pthread_setname_np(unsigned long thread, const char *name);
/// With RENAME_EXCHANGE (2): swaps two paths in one step (a directory for a directory).
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// struct sock_filter and struct sock_fprog (linux/filter.h).
struct herald_sock_filter { unsigned short code; unsigned char jt; unsigned char jf; unsigned int k; };
struct herald_sock_fprog { unsigned short len; struct herald_sock_filter *filter; };
