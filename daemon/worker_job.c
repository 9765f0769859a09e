/* worker_job.c — being written (pipeline work). */
