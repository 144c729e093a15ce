#define _GNU_SOURCE
#include "cconfine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child: report which step failed and end without running anything of the parent's
   (no atexit handlers, no buffered output). */
static void child_fail(int status_fd, int stage) {
    struct herald_spawn_failure failure = {stage, errno};
    ssize_t written;
    do {
        written = write(status_fd, &failure, sizeof failure);
    } while (written < 0 && errno == EINTR);
    _exit(127);
}

/* Only async-signal-safe calls and raw system calls from here to execve. */
static void child(const char *path, char *const argv[], char *const envp[], int switch_identity, uid_t uid, gid_t gid,
                  int stderr_fd, int status_fd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Handlers are reset by execve, but ignored signals stay ignored: reset them all. */
    struct sigaction standard;
    memset(&standard, 0, sizeof standard);
    standard.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) sigaction(signal, &standard, NULL);
    }
    setpgid(0, 0);

    /* The status descriptor moves to 3 (close-on-exec), then standard error, then
       everything above 3 closes: nothing of heraldd's reaches the command. */
    if (status_fd != 3) {
        if (stderr_fd == 3) {
            stderr_fd = fcntl(stderr_fd, F_DUPFD_CLOEXEC, 4);
            if (stderr_fd < 0) child_fail(status_fd, HERALD_SPAWN_DESCRIPTORS);
        }
        if (dup3(status_fd, 3, O_CLOEXEC) < 0) child_fail(status_fd, HERALD_SPAWN_DESCRIPTORS);
        status_fd = 3;
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(stderr_fd, 2) < 0) {
        child_fail(status_fd, HERALD_SPAWN_DESCRIPTORS);
    }
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) child_fail(status_fd, HERALD_SPAWN_DESCRIPTORS);

    /* heraldd's real-time threads and LimitRTPRIO/LimitNICE stay with heraldd. */
    struct sched_param normal = {0};
    if (sched_setscheduler(0, SCHED_OTHER, &normal) != 0) child_fail(status_fd, HERALD_SPAWN_LIMITS);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && nice < 0 && setpriority(PRIO_PROCESS, 0, 0) != 0) child_fail(status_fd, HERALD_SPAWN_LIMITS);
    struct rlimit none_allowed = {0, 0};
    if (syscall(SYS_prlimit64, 0, RLIMIT_RTPRIO, &none_allowed, NULL) != 0 ||
        syscall(SYS_prlimit64, 0, RLIMIT_NICE, &none_allowed, NULL) != 0) {
        child_fail(status_fd, HERALD_SPAWN_LIMITS);
    }

    if (switch_identity) {
        if (syscall(SYS_setgroups, 0, NULL) != 0) child_fail(status_fd, HERALD_SPAWN_GROUPS);
        if (syscall(SYS_setresgid, gid, gid, gid) != 0) child_fail(status_fd, HERALD_SPAWN_GID);
        if (syscall(SYS_setresuid, uid, uid, uid) != 0) child_fail(status_fd, HERALD_SPAWN_UID);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) child_fail(status_fd, HERALD_SPAWN_CAPABILITIES);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct nothing[_LINUX_CAPABILITY_U32S_3];
    memset(nothing, 0, sizeof nothing);
    if (syscall(SYS_capset, &header, nothing) != 0) child_fail(status_fd, HERALD_SPAWN_CAPABILITIES);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(status_fd, HERALD_SPAWN_NO_NEW_PRIVILEGES);

    execve(path, argv, envp);
    child_fail(status_fd, HERALD_SPAWN_EXEC);
}

pid_t herald_spawn_confined(const char *path, char *const argv[], char *const envp[], int switch_identity, uid_t uid,
                            gid_t gid, int stderr_fd, struct herald_spawn_failure *failure) {
    int status[2];
    if (pipe2(status, O_CLOEXEC) != 0) {
        *failure = (struct herald_spawn_failure){HERALD_SPAWN_FORK, errno};
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(status[0]);
        child(path, argv, envp, switch_identity, uid, gid, stderr_fd, status[1]);
    }
    int fork_error = errno;
    close(status[1]);
    if (pid < 0) {
        close(status[0]);
        *failure = (struct herald_spawn_failure){HERALD_SPAWN_FORK, fork_error};
        return -1;
    }
    /* End of file: execve succeeded (the descriptor closed with it). A record: the child
       failed before running the command and has exited. */
    struct herald_spawn_failure reported;
    ssize_t count;
    do {
        count = read(status[0], &reported, sizeof reported);
    } while (count < 0 && errno == EINTR);
    close(status[0]);
    if (count == (ssize_t)sizeof reported) {
        int ignored;
        while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
        }
        *failure = reported;
        return -1;
    }
    return pid;
}

/* seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 * i; a uid_t is the low word. */
#define ARG_LOW(i) (offsetof(struct seccomp_data, args) + 8 * (i) + (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0))

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "herald_pin_identity: add this architecture's AUDIT_ARCH"
#endif

struct program {
    struct sock_filter code[96];
    unsigned short length;
    /* Jumps to patch once the positions of the final two instructions are known: to allow,
       to deny when the comparison holds, to deny when it does not. */
    unsigned short to_allow[8], deny_if_true[16], deny_if_false[16];
    unsigned allows, true_denies, false_denies;
};

static void emit(struct program *p, struct sock_filter instruction) { p->code[p->length++] = instruction; }

static void load(struct program *p, unsigned offset) {
    emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset));
}

/* Denies when the loaded value `operation` `value` holds (JEQ, JGE). */
static void deny_if(struct program *p, unsigned short operation, __u32 value) {
    p->deny_if_true[p->true_denies++] = p->length;
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | operation | BPF_K, value, 0, 0));
}

/* When the call is `nr`: allowed if its first `count` arguments all equal `value`, denied
   otherwise. Any other call falls through to the next block. */
static void pin(struct program *p, int nr, int count, __u32 value) {
    load(p, offsetof(struct seccomp_data, nr));
    /* Not this call: skip the rest of the block, a load and a comparison per argument and
       the jump to allow. */
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)nr, 0, (unsigned char)(2 * count + 1)));
    for (int i = 0; i < count; i++) {
        load(p, ARG_LOW(i));
        p->deny_if_false[p->false_denies++] = p->length;
        emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 0));
    }
    p->to_allow[p->allows++] = p->length;
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0));
}

int herald_pin_identity(uid_t uid, gid_t gid) {
    struct program p;
    memset(&p, 0, sizeof p);
    load(&p, offsetof(struct seccomp_data, arch));
    p.deny_if_false[p.false_denies++] = p.length;
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 0));
#if defined(__x86_64__)
    /* x32 system calls share the x86-64 arch value and carry bit 30 in their number. */
    load(&p, offsetof(struct seccomp_data, nr));
    deny_if(&p, BPF_JGE, 0x40000000);
#endif
    pin(&p, SYS_setresuid, 3, (__u32)uid);
    pin(&p, SYS_setresgid, 3, (__u32)gid);
    pin(&p, SYS_setgroups, 1, 0);
    load(&p, offsetof(struct seccomp_data, nr));
    const int refused[] = {SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setfsuid, SYS_setfsgid};
    for (unsigned i = 0; i < sizeof refused / sizeof refused[0]; i++) deny_if(&p, BPF_JEQ, (__u32)refused[i]);
    unsigned short allow = p.length;
    emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    unsigned short deny = p.length;
    emit(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));

    for (unsigned i = 0; i < p.allows; i++) p.code[p.to_allow[i]].k = (__u32)(allow - p.to_allow[i] - 1);
    for (unsigned i = 0; i < p.true_denies; i++) p.code[p.deny_if_true[i]].jt = (unsigned char)(deny - p.deny_if_true[i] - 1);
    for (unsigned i = 0; i < p.false_denies; i++) p.code[p.deny_if_false[i]].jf = (unsigned char)(deny - p.deny_if_false[i] - 1);

    struct sock_fprog program = {p.length, p.code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0) return errno;
    return 0;
}

int herald_thread_count(void) {
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[4096];
    ssize_t count = read(fd, text, sizeof text - 1);
    close(fd);
    if (count <= 0) return -1;
    text[count] = 0;
    const char *line = strstr(text, "\nThreads:");
    int threads = -1;
    if (line != NULL && sscanf(line + 9, "%d", &threads) != 1) threads = -1;
    return threads;
}

int herald_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int herald_stderr_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    return fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0 ? 0 : -1;
}
