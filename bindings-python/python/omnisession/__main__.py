"""``python -m omnisession``: the admin command, as the ``omnisession`` console script."""

from ._cli import main

main()
