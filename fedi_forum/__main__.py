from fedi_forum.cli import main

raise SystemExit(main())
