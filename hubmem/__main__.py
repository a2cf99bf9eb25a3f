from hubmem.cli import main

main()
