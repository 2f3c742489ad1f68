# The native helper (src/native/*.c): plain C over Node-API version 8, no C++ and no npm
# dependencies. Built with `node-gyp rebuild` into build/Release/qga_native.node.
{
  "targets": [
    {
      "target_name": "qga_native",
      "sources": [
        "src/native/qga_native.c",
        "src/native/fs_ops.c",
        "src/native/time_ops.c",
        "src/native/vsock.c",
        "src/native/fd_watch.c",
        "src/native/fd_io.c",
        "src/native/sysinfo.c",
        "src/native/v8_flags.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "cflags!": ["-O3"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "libraries": ["-ldl"]
    }
  ]
}
