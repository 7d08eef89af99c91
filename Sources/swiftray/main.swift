// swiftray: start, stop and inspect SwiftRay clusters on this machine.
import RayRuntime

Role.runIfRequested()
SwiftRayCommand.main()
