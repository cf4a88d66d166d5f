"""Replaces one `## ` section of a Markdown file (or appends it), keeping the others:

    python sections.py FILE "## heading" BODY_FILE

docs/benchmarks.md keeps one section per CPU flavour, and a run replaces only its own.
"""
import sys


def main():
    path, heading, body_path = sys.argv[1:4]
    try:
        text = open(path).read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    body = open(body_path).read().strip("\n")
    head, *sections = text.split("\n## ")
    kept = ["## " + s.rstrip("\n") for s in sections if ("## " + s).split("\n", 1)[0] != heading]
    # An older file without sections: its table was this machine's, so it is replaced.
    head = head.split("\n\n", 1)[0] if not sections else head.rstrip("\n")
    out = [head.rstrip("\n"), *kept, heading + "\n\n" + body]
    with open(path + ".tmp", "w") as f:
        f.write("\n\n".join(out) + "\n")
    import os
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
