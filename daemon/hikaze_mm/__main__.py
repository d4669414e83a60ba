from hikaze_mm.cli.main import main

raise SystemExit(main())
