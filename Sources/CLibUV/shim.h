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
