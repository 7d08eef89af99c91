// libuv, plus posix_spawn's closefrom action: a GNU extension (glibc >= 2.34), declared
// here rather than through _GNU_SOURCE, which would change other system headers'
// definitions and clash with the modules Foundation and Dispatch build from them.
#include <spawn.h>
#include <uv.h>

extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
