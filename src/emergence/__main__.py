from emergence.cli import main

main()
