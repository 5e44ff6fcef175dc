"""python -m spendpilot"""

from spendpilot.cli import main

main()
