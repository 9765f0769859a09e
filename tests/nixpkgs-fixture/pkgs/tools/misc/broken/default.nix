{ runCommand }:
runCommand "broken-1.0" { version = "1.0"; } ''
  echo "this fixture package never builds" >&2
  exit 1
''
