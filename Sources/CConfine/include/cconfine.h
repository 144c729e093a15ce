// Running a health check's command confined, and pinning which identity heraldd may ever
// switch to. In C because the child of fork() in a multi-threaded process may only make
// async-signal-safe calls until it execs: no Swift runtime there.
#ifndef HERALD_CCONFINE_H
#define HERALD_CCONFINE_H

#include <sys/types.h>

/// What a confined child could not do before its command started (`stage` of
/// `herald_spawn_failure`).
enum herald_spawn_stage {
    HERALD_SPAWN_FORK = 1,
    HERALD_SPAWN_DESCRIPTORS,
    HERALD_SPAWN_LIMITS,
    HERALD_SPAWN_GROUPS,
    HERALD_SPAWN_GID,
    HERALD_SPAWN_UID,
    HERALD_SPAWN_CAPABILITIES,
    HERALD_SPAWN_NO_NEW_PRIVILEGES,
    HERALD_SPAWN_EXEC,
};

struct herald_spawn_failure {
    int stage;
    int error;
};

/// Starts `path` with `argv` and `envp` only, as the leader of a new process group; standard
/// input and output on /dev/null, standard error on `stderr_fd`, no other descriptor;
/// every signal unblocked and at its default action; normal scheduling, nice 0 or more, and
/// RLIMIT_RTPRIO and RLIMIT_NICE of 0; with `switch_identity`, no supplementary groups and
/// the user and group `uid`/`gid`; no capabilities (permitted, effective, inheritable,
/// ambient) and no_new_privs, so nothing it runs can gain any. Returns the child's PID, or
/// -1 with `failure` saying which step failed and why (the child then never ran the command).
pid_t herald_spawn_confined(const char *path, char *const argv[], char *const envp[], int switch_identity, uid_t uid,
                            gid_t gid, int stderr_fd, struct herald_spawn_failure *failure);

/// Installs a seccomp filter on the calling thread (and the threads it starts later) under
/// which the only identity changes that can succeed are setresuid(uid, uid, uid),
/// setresgid(gid, gid, gid) and setgroups(0, …); every other set*id call fails with EPERM,
/// as does any system call of a foreign architecture. A process holding CAP_SETUID for its
/// checks thereby cannot become root or anyone but the check user. Sets no_new_privs.
/// Returns 0, or an errno value.
int herald_pin_identity(uid_t uid, gid_t gid);

/// The number of threads of this process (from /proc/self/status), or -1.
int herald_thread_count(void);

/// A pipe for a command's standard error: both ends close-on-exec (made so atomically, so no
/// other thread's child inherits them), the read end non-blocking. 0, or -1 and errno.
int herald_stderr_pipe(int fds[2]);

/// pidfd_open(2): a descriptor that polls readable when process `pid` exits; -1 and errno.
int herald_pidfd_open(pid_t pid);

#endif
