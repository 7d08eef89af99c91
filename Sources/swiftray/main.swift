// swiftray: start, stop and inspect SwiftRay clusters on this machine.
import RayRuntime

// Workers of `swiftray up` run scenario tasks' synthetic bodies.
SyntheticWorker.install()
Role.runIfRequested()
SwiftRayCommand.main()
