// BinlogFormat is the segment format only; the OS helpers it reads and writes files with
// (FileDescriptor, RegularFile, DurableFile, DirectoryLock, SystemError) and the shared error
// vocabulary (ExitStatus, LogshipError) live in the leaf module LogshipSystem. Re-exported so that
// a module importing BinlogFormat sees them as it did when they lived here: a typealias per name
// would be ambiguous in every file that imports both modules.
@_exported import LogshipSystem
