# Extract the example programs from the docs: a ```c block whose first line
# is "/* example: NAME */" becomes OUT/NAME.c.new (the Makefile moves it to
# NAME.c when it changed). Usage: awk -v out=DIR -f extract_examples.awk docs/*.md
/^```c[ \t]*$/ { inblock = 1; first = 1; name = ""; next }
inblock && /^```/ { if (name != "") close(tmp); inblock = 0; name = ""; next }
inblock && first {
    first = 0
    if ($0 ~ /^\/\* example: [A-Za-z0-9_]+ \*\/$/) {
        name = $0
        sub(/^\/\* example: /, "", name)
        sub(/ \*\/$/, "", name)
        tmp = out "/" name ".c.new"
        printf "/* Extracted from %s by make: edit the document, not this file. */\n", FILENAME > tmp
    }
}
inblock && name != "" { print >> tmp }
