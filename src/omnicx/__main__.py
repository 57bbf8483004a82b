from omnicx.cli.main import main

main()
