// The executable behind the loopback tests: in a role (GCS, raylet, worker)
// it serves; run directly it says what it is for.
import RayRuntime
import RayTestbed

Testbed.register()
Role.runIfRequested()
print("swiftray-testbed: the GCS/raylet/worker binary of SwiftRay's loopback tests; it is started by them.")
