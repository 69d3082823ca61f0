import factory

from promotions.models import Campaign
from wallets.models import Wallet


class WalletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Wallet

    name = factory.Sequence(lambda n: f"Wallet {n}")
    points_name = "Supercoins"
    rounding_places = 3
    rounding_mode = Wallet.RoundingMode.DOWN


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
