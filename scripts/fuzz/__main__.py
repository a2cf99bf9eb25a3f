import sys

from scripts.fuzz.run import main

sys.exit(main())
