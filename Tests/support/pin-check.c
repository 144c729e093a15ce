/* Checks herald_pin_identity for real: as root, fence identity changes to one user, then
   try every way to become someone else. Prints one line per attempt, "ok"/"refused"; the
   test compares them with what the fence must allow. Built by t_check against
   Sources/CConfine/cconfine.c. Usage: pin-check UID GID */
#define _GNU_SOURCE
#include "cconfine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void attempt(const char *name, long result) { printf("%s %s\n", name, result == 0 ? "ok" : (errno == EPERM ? "refused" : "error")); }

int main(int argc, char **argv) {
    if (argc != 3) return 64;
    uid_t uid = (uid_t)atoi(argv[1]);
    gid_t gid = (gid_t)atoi(argv[2]);
    int result = herald_pin_identity(uid, gid);
    if (result != 0) {
        printf("pin failed %d\n", result);
        return 1;
    }
    attempt("setuid-root", syscall(SYS_setuid, 0));
    attempt("setresuid-root", syscall(SYS_setresuid, 0, 0, 0));
    attempt("setresuid-mixed", syscall(SYS_setresuid, uid, uid, 0));
    attempt("setreuid", syscall(SYS_setreuid, uid, uid));
    attempt("setfsuid", syscall(SYS_setfsuid, 0) == (long)geteuid() ? 0 : -1);
    attempt("setgid-root", syscall(SYS_setgid, 0));
    attempt("setresgid-other", syscall(SYS_setresgid, gid + 1, gid + 1, gid + 1));
    gid_t groups[1] = {0};
    attempt("setgroups-some", syscall(SYS_setgroups, 1, groups));
    attempt("setgroups-none", syscall(SYS_setgroups, 0, NULL));
    attempt("setresgid-pinned", syscall(SYS_setresgid, gid, gid, gid));
    attempt("setresuid-pinned", syscall(SYS_setresuid, uid, uid, uid));
    printf("uid %d gid %d\n", (int)getuid(), (int)getgid());
    return 0;
}
