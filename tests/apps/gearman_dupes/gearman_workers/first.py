from django_gearman import gearman_task


@gearman_task(name="same-name")
def one():
    return 1
