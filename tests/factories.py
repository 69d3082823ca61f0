"""Factories shared by every app's tests: users with roles, API keys."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts import api


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")

    @factory.post_generation
    def groups(self, create, names, **kwargs):
        for name in names or []:
            group, _ = Group.objects.get_or_create(name=name)
            self.groups.add(group)

    @factory.post_generation
    def password(self, create, value, **kwargs):
        self.set_password(value or "correct-horse-battery")
        if create:
            self.save()


class ApiKeyFactory:
    @staticmethod
    def create_with_secret(name: str = "Test app", scopes=None):
        return api.api_key_create(name=name, scopes=scopes)
