import sys

try:
    from .cli import main
except KeyboardInterrupt:          # Ctrl-C while Python loads the command line
    print("convzoo: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":
    raise SystemExit(main())
