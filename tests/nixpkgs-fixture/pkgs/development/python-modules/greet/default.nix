{ runCommand, python3 }:
runCommand "python3-greet-1.0" {
  version = "1.0";
  meta.description = "Greets its stdin (a python3 program of the fixture)";
} ''
  mkdir -p $out/bin
  printf '#!%s/bin/python3\nimport sys\nprint("greetings,", sys.stdin.read().strip())\n' ${python3} > $out/bin/greet
  chmod +x $out/bin/greet
''
