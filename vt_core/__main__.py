import sys

from vt_core.cli import main

sys.exit(main())
