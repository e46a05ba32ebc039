from django_gearman import gearman_task


@gearman_task
def fine():
    return "fine"
