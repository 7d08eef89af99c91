// libuv, plus posix_spawn's closefrom action (a GNU extension, glibc >= 2.34) for
// starting daemons that inherit no stray file descriptors.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <spawn.h>
#include <uv.h>
