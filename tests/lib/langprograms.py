"""langprograms — the programs that prove each language profile: a hello
world, a stdin-to-stdout program (reads one line, writes "got <line>"), a
compile error (None where the profile does not compile) and a runtime error.
Used by tests/pipeline/test_languages.py (suite `languages`) and
tests/freshroot/hello_profiles.py; standard library only (it runs on a fresh
machine)."""

C_HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
C_ECHO = ('#include <stdio.h>\nint main(void) { char b[256];\n'
          '  if (!fgets(b, sizeof b, stdin)) return 1; printf("got %s", b); return 0; }\n')
C_BAD = 'int main(void) { return x; }\n'
C_CRASH = '#include <stdlib.h>\nint main(void) { abort(); }\n'
CPP_HELLO = '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n'
CPP_ECHO = ('#include <iostream>\n#include <string>\nint main() { std::string s;\n'
            '  std::getline(std::cin, s); std::cout << "got " << s << std::endl; }\n')
CPP_CRASH = '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n'
COB_HEAD = 'IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\n'
CPP_BAD = 'int main() { return x; }\n'

# profile -> (hello, echo, compile error or None, runtime error)
PROGRAMS = {
    "python3": ('print("hello")\n', 'print("got " + input())\n', None, 'raise SystemExit(3)\n'),
    "c": (C_HELLO, C_ECHO, C_BAD, C_CRASH),
    "cpp": (CPP_HELLO, CPP_ECHO, 'int main() { return x; }\n', CPP_CRASH),
    "c-tcc": (C_HELLO, C_ECHO, C_BAD, C_CRASH),
    "c-clang": (C_HELLO, C_ECHO, C_BAD, C_CRASH),
    "cpp-clang": (CPP_HELLO, CPP_ECHO, 'int main() { return x; }\n', CPP_CRASH),
    "lua": ('print("hello")\n', 'print("got " .. io.read("l"))\n', None, 'error("boom")\n'),
    "bash": ('echo hello\n', 'read -r l; echo "got $l"\n', None, 'exit 3\n'),
    "fortran": ('program main\n  print "(a)", "hello"\nend program main\n',
                'program main\n  character(len=100) :: l\n  read (*, "(a)") l\n'
                '  print "(a)", "got " // trim(l)\nend program main\n',
                'program main\n  x = \nend program main\n',
                'program main\n  stop 3\nend program main\n'),
    "java": ('public class Main { public static void main(String[] a) { System.out.println("hello"); } }\n',
             'import java.util.Scanner;\npublic class Main { public static void main(String[] a) {\n'
             '  System.out.println("got " + new Scanner(System.in).nextLine()); } }\n',
             'public class Main { public static void main(String[] a) { int x = y; } }\n',
             'public class Main { public static void main(String[] a) { throw new RuntimeException("boom"); } }\n'),
    "javascript": ('console.log("hello");\n',
                   'const l = require("fs").readFileSync(0, "utf8").split("\\n")[0];\nconsole.log("got " + l);\n',
                   None, 'throw new Error("boom");\n'),
    "typescript": ('const s: string = "hello";\nconsole.log(s);\n',
                   'declare function require(m: string): any;\n'
                   'const l: string = require("fs").readFileSync(0, "utf8").split("\\n")[0];\n'
                   'console.log("got " + l);\n',
                   'const n: number = "not a number";\n',
                   'throw new Error("boom");\n'),
    "perl": ('print "hello\\n";\n', 'my $l = <STDIN>; print "got $l";\n', None, 'die "boom\\n";\n'),
    "ruby": ('puts "hello"\n', 'puts "got " + gets\n', None, 'raise "boom"\n'),
    "php": ('<?php echo "hello\\n";\n', '<?php echo "got " . fgets(STDIN);\n', None,
            '<?php throw new Exception("boom");\n'),
    "go": ('package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }\n',
           'package main\nimport (\n "bufio"\n "fmt"\n "os"\n)\nfunc main() {\n'
           ' s := bufio.NewScanner(os.Stdin)\n s.Scan()\n fmt.Println("got " + s.Text())\n}\n',
           'package main\nfunc main() { x := 1 }\n',
           'package main\nfunc main() { panic("boom") }\n'),
    "rust": ('fn main() { println!("hello"); }\n',
             'fn main() { let mut l = String::new(); std::io::stdin().read_line(&mut l).unwrap();\n'
             '  print!("got {}", l); }\n',
             'fn main() { let x: i32 = "no"; }\n',
             'fn main() { panic!("boom"); }\n'),
    "ocaml": ('let () = print_endline "hello"\n', 'let () = print_endline ("got " ^ read_line ())\n',
              'let () = print_endline 42\n', 'let () = failwith "boom"\n'),
    "commonlisp": ('(write-line "hello")\n', '(write-line (concatenate (quote string) "got " (read-line)))\n',
                   None, '(error "boom")\n'),
    "assembly": ('global _start\nsection .data\nmsg: db "hello", 10\nsection .text\n_start:\n'
                 ' mov rax, 1\n mov rdi, 1\n mov rsi, msg\n mov rdx, 6\n syscall\n'
                 ' mov rax, 60\n xor rdi, rdi\n syscall\n',
                 # read up to 256 bytes of stdin, write "got " and them
                 'global _start\nsection .data\npre: db "got "\nsection .bss\nbuf: resb 256\n'
                 'section .text\n_start:\n mov rax, 0\n mov rdi, 0\n mov rsi, buf\n mov rdx, 256\n syscall\n'
                 ' mov r12, rax\n mov rax, 1\n mov rdi, 1\n mov rsi, pre\n mov rdx, 4\n syscall\n'
                 ' mov rax, 1\n mov rdi, 1\n mov rsi, buf\n mov rdx, r12\n syscall\n'
                 ' mov rax, 60\n xor rdi, rdi\n syscall\n',
                 'global _start\nsection .text\n_start:\n movx rax, 1\n',
                 'global _start\nsection .text\n_start:\n mov rax, 60\n mov rdi, 3\n syscall\n'),
    "prolog": ('main :- writeln(hello).\n',
               'main :- read_term(user_input, T, []), format("got ~w~n", [T]).\n',
               None, 'main :- X is 1/0, writeln(X).\n'),
    "erlang": ('-module(main).\n-export([main/1]).\nmain(_) -> io:format("hello~n").\n',
               '-module(main).\n-export([main/1]).\nmain(_) -> L = io:get_line(""), io:format("got ~s", [L]).\n',
               None, '-module(main).\n-export([main/1]).\nmain(_) -> halt(3).\n'),
    "elixir": ('IO.puts "hello"\n', 'IO.write "got " <> IO.gets("")\n', None, 'raise "boom"\n'),
    "d": ('import std.stdio;\nvoid main() { writeln("hello"); }\n',
          'import std.stdio, std.string;\nvoid main() { writeln("got " ~ readln().chomp); }\n',
          'void main() { int x = "no"; }\n',
          'void main() { throw new Exception("boom"); }\n'),
    "objective-c": ('#import <objc/Object.h>\n#include <stdio.h>\n@interface Hello : Object\n+ (void)say;\n@end\n'
                    '@implementation Hello\n+ (void)say { puts("hello"); }\n@end\n'
                    'int main(void) { [Hello say]; return 0; }\n',
                    C_ECHO, C_BAD, C_CRASH),
    "pascal": ("program main;\nbegin\n  writeln('hello');\nend.\n",
               "program main;\nvar l: string;\nbegin\n  readln(l);\n  writeln('got ', l);\nend.\n",
               "program main;\nbegin\n  x := 1;\nend.\n",
               "program main;\nbegin\n  halt(3);\nend.\n"),
    "clojure": ('(println "hello")\n', '(println (str "got " (read-line)))\n', None,
                '(throw (Exception. "boom"))\n'),
    "c-gcc11": (C_HELLO, C_ECHO, C_BAD, C_CRASH),
    "cpp-gcc11": (CPP_HELLO, CPP_ECHO, CPP_BAD, CPP_CRASH),
    "c-clang15": (C_HELLO, C_ECHO, C_BAD, C_CRASH),
    "cpp-clang15": (CPP_HELLO, CPP_ECHO, CPP_BAD, CPP_CRASH),
    "c-clang16": (C_HELLO, C_ECHO, C_BAD, C_CRASH),
    "cpp-clang16": (CPP_HELLO, CPP_ECHO, CPP_BAD, CPP_CRASH),
    "haskell": ('main :: IO ()\nmain = putStrLn "hello"\n',
                'main :: IO ()\nmain = getLine >>= \\l -> putStrLn ("got " ++ l)\n',
                'main :: IO ()\nmain = putStrLn (1 + True)\n',
                'main :: IO ()\nmain = error "boom"\n'),
    "csharp": ('class Hello { static void Main() { System.Console.WriteLine("hello"); } }\n',
               'class Echo { static void Main() {\n'
               '  System.Console.WriteLine("got " + System.Console.ReadLine()); } }\n',
               'class Bad { static void Main() { int x = "no"; } }\n',
               'class Boom { static void Main() { throw new System.Exception("boom"); } }\n'),
    "kotlin": ('fun main() { println("hello") }\n', 'fun main() { println("got " + readLine()) }\n',
               'fun main() { val x: Int = "no" }\n', 'fun main() { throw RuntimeException("boom") }\n'),
    "scala": ('object Main { def main(a: Array[String]): Unit = println("hello") }\n',
              'object Main { def main(a: Array[String]): Unit = println("got " + scala.io.StdIn.readLine()) }\n',
              'object Main { def main(a: Array[String]): Unit = { val x: Int = "no" } }\n',
              'object Main { def main(a: Array[String]): Unit = throw new RuntimeException("boom") }\n'),
    "groovy": ('println "hello"\n', 'println "got " + System.in.newReader().readLine()\n', None,
               'throw new RuntimeException("boom")\n'),
    "cobol": (COB_HEAD + 'PROCEDURE DIVISION.\n    DISPLAY "hello".\n    STOP RUN.\n',
              COB_HEAD + 'DATA DIVISION.\nWORKING-STORAGE SECTION.\n01 L PIC X(100).\n'
              'PROCEDURE DIVISION.\n    ACCEPT L.\n    DISPLAY "got " FUNCTION TRIM(L).\n    STOP RUN.\n',
              COB_HEAD + 'PROCEDURE DIVISION.\n    DISPLAY UNDEFINED-NAME.\n    STOP RUN.\n',
              COB_HEAD + 'PROCEDURE DIVISION.\n    MOVE 3 TO RETURN-CODE.\n    STOP RUN.\n'),
    "r": ('cat("hello\\n")\n', 'l <- readLines(file("stdin"), n = 1)\ncat("got ", l, "\\n", sep = "")\n', None,
          'stop("boom")\n'),
    "prolog-gnu": (':- initialization(main).\nmain :- write(hello), nl.\n',
                   ':- initialization(main).\nmain :- read(T), write(\'got \'), write(T), nl.\n',
                   ':- initialization(main).\nmain :- write(hello.\n',
                   ':- initialization(main).\nmain :- halt(3).\n'),
    "octave": ('disp("hello")\n', 'l = fgetl(stdin);\nprintf("got %s\\n", l);\n', None, 'error("boom");\n'),
}
