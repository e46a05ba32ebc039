"""Mail goes through its own queue so slow SMTP never blocks other work:
`manage.py gearman_worker -a shop -n mail -q mail`."""

from django.core import mail

from django_gearman import gearman_task


@gearman_task(name="send-email", queue="mail")
def send_email(to, subject, body):
    return mail.send_mail(subject, body, "shop@example.com", [to])


@gearman_task(queue="reports")
def daily_report(day):
    return f"report for {day.isoformat()}"
