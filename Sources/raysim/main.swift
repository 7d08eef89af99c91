print("raysim: under construction")
