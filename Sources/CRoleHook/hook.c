// A SwiftRay program is its own runtime: the GCS and raylets of an embedded
// cluster are this program re-executed with SWIFTRAY_ROLE set. Those roles
// start here, from a constructor, before main: they never run the program's
// top-level code (its prints, its files, its globals), which only workers run,
// up to Ray.start(), to learn the remote functions.
#include <stdlib.h>
#include <string.h>
#include "CRoleHook.h"

// Defined in RayRuntime (Roles.swift); weak, so a binary without it links and skips the hook.
extern void swiftray_run_service_role(void) __attribute__((weak));

__attribute__((constructor)) static void swiftray_role_hook(void) {
    const char *role = getenv("SWIFTRAY_ROLE");
    if (role == NULL || swiftray_run_service_role == NULL) return;
    if (strcmp(role, "gcs") == 0 || strcmp(role, "raylet") == 0) swiftray_run_service_role();
}
