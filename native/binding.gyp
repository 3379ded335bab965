{
  "targets": [
    {
      "target_name": "jukeflow_native",
      "sources": ["src/addon.c", "src/blas.c", "src/elementwise.c", "src/kernels.c", "src/rows.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-ldl", "-lpthread", "-lm"] }],
        ["OS=='mac'", { "xcode_settings": { "OTHER_CFLAGS": ["-std=gnu11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"] } }]
      ]
    }
  ]
}
