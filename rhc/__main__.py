"""`python -m rhc service.micro`: the same command as `python -m rhc.launch`."""
import sys

from rhc.launch import main

sys.exit(main())
