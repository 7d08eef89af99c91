// Runs a SwiftRay service role (GCS, raylet) before the program's own code: see hook.c.
#pragma once
