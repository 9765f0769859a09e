/* worker.c — being written (pipeline work). */
