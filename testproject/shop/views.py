from django.http import JsonResponse

from django_gearman import GearmanClient, JobHandle

from .gearman_workers.worker import add, count_to


def add_view(request):
    """A foreground job: the view waits for the worker's answer."""
    return JsonResponse({"sum": add.submit(int(request.GET.get("a", 1)), int(request.GET.get("b", 2)))})


def start_count(request):
    """A background job: the view returns at once with a handle to poll."""
    handle = count_to.submit_background(int(request.GET.get("steps", 5)))
    return JsonResponse({"handle": str(handle)})


def count_status(request, handle):
    status = GearmanClient().get_job_status(JobHandle.from_string(handle))
    return JsonResponse({"known": status.known, "running": status.running,
                         "numerator": status.numerator, "denominator": status.denominator})
