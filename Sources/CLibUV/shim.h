// libuv, plus two glibc extras: posix_spawn's closefrom action (a GNU extension, glibc >= 2.34),
// here rather than through _GNU_SOURCE, which would change other system headers'
// definitions and clash with the modules Foundation and Dispatch build from them.
#include <spawn.h>
#include <uv.h>

extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

// glibc's malloc_trim (<malloc.h>): returns free heap pages to the system.
extern int malloc_trim(size_t pad);

#include <fcntl.h>

// An open-file-description lock on a byte range (F_OFD_SETLK, never waits; Linux >= 3.15):
// type F_RDLCK, F_WRLCK or F_UNLCK. Returns 0, or -1 with errno (EAGAIN: held elsewhere).
// Released when the last descriptor of that open file closes, so a crashed process holds nothing.
static inline int swiftray_range_lock(int fd, short type, long long start, long long length) {
    struct flock lock = {0};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = start;
    lock.l_len = length;
    return fcntl(fd, 37 /* F_OFD_SETLK */, &lock);
}

// glibc's fallocate (a GNU extension) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: the file's
// pages in the range go back to the system (tmpfs), its size stays. 0, or -1 with errno.
extern int swiftray_fallocate(int fd, int mode, long long offset, long long length) __asm__("fallocate64");
static inline int swiftray_punch_hole(int fd, long long offset, long long length) {
    return swiftray_fallocate(fd, 0x02 | 0x01, offset, length);
}

#include <stdio.h>
#include <sys/types.h>

// glibc's fopencookie (a GNU extension) with its cookie_io_functions_t layout: a FILE whose
// writes call `write`. A worker's stdout and stderr become such files, so the first output
// of each task can be preceded by a line naming the task (see WorkerOutput.swift).
typedef ssize_t (*swiftray_cookie_write_function)(void *cookie, const char *buffer, size_t size);
typedef struct {
    void *read;
    swiftray_cookie_write_function write;
    void *seek;
    void *close;
} swiftray_cookie_functions;
extern FILE *swiftray_fopencookie(void *cookie, const char *mode, swiftray_cookie_functions functions)
    __asm__("fopencookie");

// The C stdio globals, reached from Swift 6 without touching shared mutable state there.
static inline void swiftray_replace_stdio(FILE *out, FILE *err) {
    if (out) stdout = out;
    if (err) stderr = err;
}
static inline void swiftray_flush_stdio(void) {
    fflush(stdout);
    fflush(stderr);
}
static inline void swiftray_print_stdout(const char *text) {
    fputs(text, stdout);
    fflush(stdout);
}

// pipe2 (a GNU extension): a pipe whose ends have `flags` (O_CLOEXEC) from the start.
extern int pipe2(int fds[2], int flags);

#include <sys/prctl.h>
#include <signal.h>

// A worker dies with its raylet (Linux's parent-death signal; prctl is variadic, so not callable from Swift).
static inline int swiftray_die_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
}
