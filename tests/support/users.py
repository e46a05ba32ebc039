"""Users of the admin pages' tests."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User


def staff_user(username: str, *permissions: str) -> User:
    """A staff user with these permissions of django_gearman (codenames, each of which must exist) and no others."""
    user = User.objects.create_user(username, password="secret", is_staff=True)
    granted = Permission.objects.filter(content_type__app_label="django_gearman", codename__in=permissions)
    assert sorted(granted.values_list("codename", flat=True)) == sorted(permissions), "unknown permission"
    user.user_permissions.set(granted)
    return user
