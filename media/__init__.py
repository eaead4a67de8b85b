"""Media I/O: the one place for reading and writing video, audio and images, and for face crops."""
