from bitscale.cli import main

raise SystemExit(main())
