from tokfree.cli import main

raise SystemExit(main())
