import sys

from meshlb.cli import main

sys.exit(main())
