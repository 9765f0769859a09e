{ runCommand, bash }:
runCommand "hello-2.12.1" {
  version = "2.12.1";
  meta.description = "The nixpkgs fixture's hello";
} ''
  mkdir -p $out/bin
  printf '#!%s/bin/bash\necho "Hello from the nixpkgs fixture"\n' ${bash} > $out/bin/hello
  chmod +x $out/bin/hello
''
