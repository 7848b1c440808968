// Inspect: reads guest state through a Machine or a core file and reports it.
