from cai_desktop.cli import main

raise SystemExit(main())
