// libuv, plus two glibc extras: posix_spawn's closefrom action (a GNU extension, glibc >= 2.34),
// here rather than through _GNU_SOURCE, which would change other system headers'
// definitions and clash with the modules Foundation and Dispatch build from them.
#include <spawn.h>
#include <uv.h>

extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

// glibc's malloc_trim (<malloc.h>): returns free heap pages to the system.
extern int malloc_trim(size_t pad);
