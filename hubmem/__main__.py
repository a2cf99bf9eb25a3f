from hubmem.cli.app import main

main()
